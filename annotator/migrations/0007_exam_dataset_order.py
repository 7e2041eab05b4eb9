"""Exams of one dataset page by id on an index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0006_job_list_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="exam",
            index=models.Index(fields=["dataset", "id"], name="exam_dataset_order"),
        ),
    ]
