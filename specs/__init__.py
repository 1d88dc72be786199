"""The bundled provider specs and the only API other packages use to read them.

    >>> from headshot_mock import specs
    >>> specs.providers()
    ('agentai', 'idphoto', 'magichour', 'modelslab')
    >>> spec = specs.load("modelslab")
    >>> spec.operation("fetchResult").path
    '/v6/image_editing/fetch/{id}'

Documents are parsed once and cached; :attr:`ProviderSpec.openapi` (the openapi-core object)
is built on first use, because building it costs more than the rest of a cold start.
A user's own document joins them with :func:`load_file` (see :mod:`specs.document`).
"""

from headshot_mock.specs._loader import Credential, Operation, ProviderSpec, load, providers, resolve
from headshot_mock.specs.document import UserSpec, load_file, parse_entry
from headshot_mock.specs.errors import (
    InvalidSpec,
    SpecError,
    SpecFileError,
    UnknownOperation,
    UnknownProvider,
)

__all__ = [
    "Credential",
    "InvalidSpec",
    "Operation",
    "ProviderSpec",
    "SpecError",
    "SpecFileError",
    "UnknownOperation",
    "UnknownProvider",
    "UserSpec",
    "load",
    "load_file",
    "parse_entry",
    "providers",
    "resolve",
]
