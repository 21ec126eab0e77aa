"""Pure kubelet decisions about one container's life: restart or not, when, and what to report.

Mirrors pkg/kubelet/kuberuntime (computePodActions, doBackOff) and pkg/kubelet/status:
- restartPolicy Always restarts on every exit, OnFailure on a non-zero exit, Never not at all;
- the first restart is immediate; after that kubelet waits a back-off that starts at 10 s and
  doubles up to 5 min (the container shows `Waiting: CrashLoopBackOff` meanwhile), and the back-off
  is forgotten once a run lasted 10 min;
- restartCount counts restarts, lastState keeps how the previous run ended.
Nothing here touches the machine: the kubelet feeds in what it observed and carries out the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

BACKOFF_INITIAL = 10.0      # kubelet's initial container back-off (pkg/kubelet/kubelet.go)
BACKOFF_MAX = 300.0         # MaxContainerBackOff
BACKOFF_RESET = 600.0       # a run this long clears the back-off (2 x MaxContainerBackOff)


@dataclass(frozen=True)
class ContainerRecord:
    """What kubelet remembers of a container across its runs (kept in the lab's store)."""

    restart_count: int = 0
    last_state: dict | None = None     # {"exitCode", "reason", "startedAt", "finishedAt", "signal"}
    handled_finish: float | None = None  # finishedAt of the last run already acted on
    backoff: float = 0.0               # the wait before the next restart (0: restart at once)
    restart_at: float | None = None    # when a waiting restart is due
    last_restart: float | None = None  # when the last restart happened (RESTARTS "(5s ago)")

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ContainerRecord":
        return cls(**(data or {}))


@dataclass(frozen=True)
class Observed:
    """The runtime's view of one container's latest run."""

    state: str                         # running | terminated | waiting
    exit_code: int | None = None
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    signal: int | None = None


RESTART, WAIT, NOTHING = "restart", "wait", "nothing"


def wants_restart(policy: str, exit_code: int | None) -> bool:
    """Does restartPolicy ask for another run after an exit with EXIT_CODE?"""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def decide(policy: str, observed: Observed, record: ContainerRecord, now: float) -> tuple[ContainerRecord, str]:
    """(the record updated, RESTART | WAIT | NOTHING) for a container kubelet just looked at."""
    if observed.state != "terminated" or observed.finished_at is None:
        return record, NOTHING
    if record.handled_finish == observed.finished_at:
        # this run's end was already handled: a restart is pending, or waiting out its back-off
        if record.restart_at is not None:
            return record, RESTART if now >= record.restart_at else WAIT
        return record, NOTHING
    if not wants_restart(policy, observed.exit_code):
        return replace(record, handled_finish=observed.finished_at, restart_at=None), NOTHING
    ran = (observed.finished_at - observed.started_at) if observed.started_at else 0.0
    backoff = record.backoff
    if ran >= BACKOFF_RESET:
        backoff = 0.0
    restart_at = observed.finished_at + backoff
    # the back-off that will apply after *this* restart: 0 -> 10 -> 20 -> ... -> 300
    next_backoff = BACKOFF_INITIAL if backoff == 0 else min(backoff * 2, BACKOFF_MAX)
    record = replace(record, handled_finish=observed.finished_at, restart_at=restart_at, backoff=next_backoff,
                     last_state=last_state_of(observed))
    return record, RESTART if now >= restart_at else WAIT


def restarted(record: ContainerRecord, now: float) -> ContainerRecord:
    """The record once the runtime has started the container again."""
    return replace(record, restart_count=record.restart_count + 1, restart_at=None, last_restart=now)


def last_state_of(observed: Observed) -> dict:
    """lastState.terminated of a run that ended."""
    return {"exitCode": observed.exit_code, "reason": observed.reason or ("Completed" if observed.exit_code == 0
                                                                          else "Error"),
            "startedAt": observed.started_at, "finishedAt": observed.finished_at, "signal": observed.signal}


def waiting_reason(record: ContainerRecord, observed: Observed, now: float) -> tuple[str, str] | None:
    """(reason, message) of a container waiting out its back-off, as kubelet reports it."""
    if observed.state == "terminated" and record.restart_at is not None and \
            record.handled_finish == observed.finished_at and now < record.restart_at:
        return "CrashLoopBackOff", f"back-off {_duration(record.restart_at - observed.finished_at)} restarting " \
                                   f"failed container"
    return None


def _duration(seconds: float) -> str:
    """Go's time.Duration String for whole seconds: 10s, 1m20s, 5m0s."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60}s"
