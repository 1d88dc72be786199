"""``--watch``: a changed spec file is served without a restart.

A thread looks at the files of every served user spec (the root file and those its ``$ref`` s
read) twice a second. When one changed, the document is loaded again; if it is valid, its
operations replace the old ones in the running app (the journal, rules and jobs stay); if it
is not, the last good version keeps serving and the log says why (once per edit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver.providers import plugin_for
from headshot_mock.specs.document import UserSpec, stamp

__all__ = ["Watcher"]

log = logging.getLogger("headshot_mock")


class Watcher:
    """Reloads the served user specs of one app when their files change."""

    def __init__(self, app: Any, routes: Callable[[], list[Any]], *, interval: float = 0.5) -> None:
        self.app = app
        self.routes = routes
        self.interval = interval
        self.errors: dict[str, str] = {}
        """The last refused edit of each spec id (cleared when a good version loads)."""
        self.reloads = 0
        self._entries = {
            specs.load_file(path, name).id: (name, path)
            for name, path in map(specs.parse_entry, app.state.runtime.config.specs)
        }
        self._seen = {pid: self._stamp(pid) for pid in self._entries}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _spec(self, pid: str) -> UserSpec | None:
        provider = self.app.state.engine.providers.get(pid)  # not served: --provider chose another
        spec = provider.spec if provider is not None else None
        return spec if isinstance(spec, UserSpec) else None

    def _stamp(self, pid: str) -> Any:
        spec = self._spec(pid)
        return None if spec is None else (spec.files, stamp(spec.files))

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name="headshot-mock-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the watcher die silently
                log.exception("headshot-mock: watching the spec files failed")

    def check(self) -> list[str]:
        """One look at the files; the ids of the specs reloaded."""
        reloaded = []
        for pid, (name, path) in self._entries.items():
            seen = self._seen.get(pid)
            spec = self._spec(pid)
            if spec is None or seen is None or stamp(seen[0]) == seen[1]:
                continue
            self._seen[pid] = (seen[0], stamp(seen[0]))
            try:
                fresh = specs.load_file(path, name)
            except specs.SpecError as exc:
                self.errors[pid] = str(exc)
                log.warning("headshot-mock: %s keeps serving its last good version: %s", pid, exc)
                continue
            engine = self.app.state.engine
            provider = plugin_for(pid)(fresh, engine.runtime)
            engine.providers[pid] = provider
            self.app.router.routes = self.routes()
            self._seen[pid] = (fresh.files, stamp(fresh.files))
            self.errors.pop(pid, None)
            self.reloads += 1
            reloaded.append(pid)
            log.warning("headshot-mock: reloaded %s from %s", pid, fresh.path)
            for note in getattr(provider, "notes", ()):
                log.warning("headshot-mock:   %s: %s", pid, note)
        return reloaded
