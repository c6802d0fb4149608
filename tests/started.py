"""Context-manager behaviour shared by the daemons the tests start themselves (PostgreSQL, SLURM)."""
from __future__ import annotations


class Started:
    """`with X() as x:` starts x, and stops whatever did start when start() fails half-way or the block ends."""

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
