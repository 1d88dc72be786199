"""Provider plug-ins: ``mockserver/providers/<provider id>.py`` defines a :class:`Provider`
subclass named ``Plugin``. A provider without a module is served by the base plug-in, from its
spec's examples alone."""

from __future__ import annotations

import importlib

from headshot_mock.mockserver.providers.base import Answer, Call, Provider

__all__ = ["Answer", "Call", "Provider", "plugin_for"]


def plugin_for(provider: str) -> type[Provider]:
    from headshot_mock.specs.document import registered

    if registered(provider) is not None:  # a user's own document (specs.load_file)
        from headshot_mock.mockserver.userspec import SpecProvider

        return type(f"{provider.title()}SpecPlugin", (SpecProvider,), {"id": provider})
    try:
        module = importlib.import_module(f"{__name__}.{provider}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{provider}":
            raise
        return type(f"{provider.title()}Plugin", (Provider,), {"id": provider})
    plugin: type[Provider] = module.Plugin
    return plugin
