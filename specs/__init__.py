"""The bundled provider specs and the only API other packages use to read them.

    >>> from headshot_mock import specs
    >>> specs.providers()
    ('agentai', 'idphoto', 'magichour', 'modelslab')
    >>> spec = specs.load("modelslab")
    >>> spec.operation("fetchResult").path
    '/v6/image_editing/fetch/{id}'

Documents are parsed once and cached; :attr:`ProviderSpec.openapi` (the openapi-core object)
is built on first use, because building it costs more than the rest of a cold start.
"""

from headshot_mock.specs._loader import Credential, Operation, ProviderSpec, load, providers, resolve
from headshot_mock.specs.errors import InvalidSpec, SpecError, UnknownOperation, UnknownProvider

__all__ = [
    "Credential",
    "InvalidSpec",
    "Operation",
    "ProviderSpec",
    "SpecError",
    "UnknownOperation",
    "UnknownProvider",
    "load",
    "providers",
    "resolve",
]
