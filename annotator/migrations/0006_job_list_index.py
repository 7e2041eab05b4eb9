"""The job list's index (newest first, by cursor), and each job's stored summary.

The summary is what a job list shows in place of the result, so the list
never reads results (megabytes for a large agreement report). Jobs that
succeeded before it existed get theirs here, once.
"""

from django.db import migrations, models


def fill_summaries(apps, schema_editor):
    # Job.summary_of as it stood when the column was added (frozen here, as
    # migrations must not follow the model's code).
    Job = apps.get_model("annotator", "Job")
    done = (
        Job.objects.filter(status="succeeded", result__isnull=False)
        .only("pk", "kind", "result")
        .iterator(chunk_size=20)
    )
    for job in done:
        result = job.result or {}
        if not result:
            continue
        if job.kind == "agreement":
            summary = {
                "n_exams": result.get("n_exams"),
                "n_readers": len(result.get("readers", [])),
                "bootstrap": result.get("bootstrap"),
            }
        else:
            summary = {"rows": result.get("rows"), "methods": result.get("methods")}
        Job.objects.filter(pk=job.pk).update(summary=summary)


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0005_progress_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="summary",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_summaries, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["-created_at", "-id"], name="job_list_idx"),
        ),
    ]
