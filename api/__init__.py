"""The REST API: serializers, permissions and views; no business rules."""
