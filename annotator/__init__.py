"""ECG Annotator: the Django project package and the domain app.

Kept free of imports so that the framework-free modules (waveforms, agreement,
consensus, synthetic) load in a notebook without Django; the Celery app is
loaded when Django starts (``AnnotatorConfig.ready``) and by ``celery -A annotator``.
"""
