"""The campaign's figures (kills survived, inputs rejected, soak requests, leaks), printed at the end of
the run by tests/conftest.py's terminal summary."""

FIGURES: dict = {}


def record(name: str, value) -> None:
    """Set figure NAME (a number or a short text) for the end-of-run summary."""
    FIGURES[name] = value


def add(name: str, amount: int = 1) -> None:
    """Add AMOUNT to the counter NAME."""
    FIGURES[name] = FIGURES.get(name, 0) + amount
