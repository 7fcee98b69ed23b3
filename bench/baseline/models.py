from django.db import models


class Event(models.Model):
    """One delivery, stored once (the event id is the primary key)."""

    id = models.CharField(primary_key=True, max_length=200)
    conversation_id = models.CharField(max_length=200)
    type = models.CharField(max_length=64)
    sequence = models.BigIntegerField(null=True)
    occurred_at = models.DateTimeField()
    body = models.TextField()
    received_at = models.DateTimeField()

    def __str__(self):
        return self.id


class Conversation(models.Model):
    """The newest event of each conversation: moved forward only by a newer sequence."""

    id = models.CharField(primary_key=True, max_length=200)
    last_seq = models.BigIntegerField()
    last_event_type = models.CharField(max_length=64)
    last_activity_at = models.DateTimeField()

    def __str__(self):
        return self.id
