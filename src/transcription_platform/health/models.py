from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time a django-q2 cluster ran the scheduled heartbeat task.

    The task goes through the same queue as transcription jobs, so a fresh row proves
    that a cluster is scheduling *and* consuming — not merely that a process exists.
    """

    cluster = models.CharField(max_length=100, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name = "worker heartbeat"

    def __str__(self) -> str:
        return f"{self.cluster} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
