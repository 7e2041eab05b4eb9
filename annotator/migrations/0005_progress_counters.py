"""Progress counters on campaigns and their readers; a decision knows its reader.

The counters are filled from the rows once here; from then on the services
keep them in the transactions that change what they count.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_counters(apps, schema_editor):
    from django.db.models import Count, Max, OuterRef, Q, Subquery

    Campaign = apps.get_model("annotator", "Campaign")
    CampaignExam = apps.get_model("annotator", "CampaignExam")
    CampaignReader = apps.get_model("annotator", "CampaignReader")
    Assignment = apps.get_model("annotator", "Assignment")
    Decision = apps.get_model("annotator", "Decision")

    Decision.objects.update(
        reader_id=Subquery(
            Assignment.objects.filter(pk=OuterRef("assignment_id")).values("reader_id")[
                :1
            ]
        )
    )
    for campaign in Campaign.objects.all():
        states = dict(
            CampaignExam.objects.filter(campaign=campaign)
            .values("consensus_state")
            .annotate(n=Count("pk"))
            .values_list("consensus_state", "n")
        )
        reads = Assignment.objects.filter(campaign=campaign)
        fields = {f"n_{state}": n for state, n in states.items()}
        Campaign.objects.filter(pk=campaign.pk).update(
            n_exams=sum(states.values()),
            n_reads_submitted=reads.filter(status="submitted").count(),
            n_claims_open=reads.filter(status="claimed").count(),
            **fields,
        )
        per_reader = (
            reads.values("reader_id")
            .annotate(
                submitted=Count("pk", filter=Q(status="submitted")),
                claimed=Count("pk", filter=Q(status="claimed")),
                cursor=Max("exam_id"),
            )
            .order_by()
        )
        for row in per_reader:
            CampaignReader.objects.filter(
                campaign=campaign, user_id=row["reader_id"]
            ).update(
                n_submitted=row["submitted"],
                n_claimed=row["claimed"],
                cursor=row["cursor"] or 0,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0004_campaign_reader_counters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="campaignexam",
            name="annotator_c_campaig_cb199f_idx",
        ),
        migrations.RemoveField(
            model_name="campaign",
            name="show_other_readers",
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_adjudicated",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_claims_open",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_exams",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_majority",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_needs_adjudication",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_pending",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_policy",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_reads_submitted",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_single",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaign",
            name="n_unanimous",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaignreader",
            name="cursor",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaignreader",
            name="n_claimed",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="campaignreader",
            name="n_submitted",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="decision",
            name="reader",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="decisions",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="campaignexam",
            index=models.Index(
                fields=["campaign", "consensus_state", "exam"],
                name="campaign_exam_state_order",
            ),
        ),
        migrations.AddIndex(
            model_name="campaignexam",
            index=models.Index(
                condition=models.Q(
                    ("consensus_state__in", ["needs_adjudication", "adjudicated"])
                ),
                fields=["campaign", "exam"],
                name="campaign_exam_adjudication",
            ),
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(fields=["reader", "id"], name="decision_reader_order"),
        ),
        migrations.RunPython(fill_counters, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="decision",
            name="reader",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="decisions",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
