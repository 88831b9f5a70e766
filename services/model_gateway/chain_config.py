"""The provider chain the settings select: LLM_PROVIDER first, then LLM_FALLBACKS in order.

The built-in OpenAI-compatible providers are rows of PROVIDERS naming their settings. Any
other name is an OpenAI-compatible provider of its own (Groq, Together, vLLM, ...),
configured by <NAME>_BASE_URL and <NAME>_MODEL_NAME, plus <NAME>_API_KEY when it takes a
key, read like every setting: the environment first, then the .env file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.kit.errors import ConfigError
from services.model_gateway.mock import MODEL_NAME as MOCK_MODEL_NAME
from services.model_gateway.settings import GatewaySettings

MOCK = "mock"


@dataclass(frozen=True)
class ProviderSpec:
    base_url_variable: str
    model_variable: str
    key_variable: str | None  # None: the endpoint takes no key
    path_suffix: str = ""  # appended to the base URL unless it already ends with it


PROVIDERS = {
    "openrouter": ProviderSpec(
        "OPENROUTER_BASE_URL", "OPENROUTER_MODEL_NAME", "OPENROUTER_API_KEY"
    ),
    "ollama": ProviderSpec("OLLAMA_BASE_URL", "OLLAMA_MODEL_NAME", None, "/v1"),
    "openai": ProviderSpec("OPENAI_BASE_URL", "OPENAI_MODEL_NAME", "OPENAI_API_KEY"),
}
SUPPORTED_PROVIDERS = (MOCK, *PROVIDERS)
PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class ProviderConfig:
    """One link of the chain; for OpenAI-compatible ones `base_url` ends before
    `/chat/completions`. The mock has no URL and no key."""

    name: str
    base_url: str
    model: str
    api_key: str  # empty: send no Authorization header

    @property
    def is_mock(self) -> bool:
        return self.name == MOCK


MOCK_CONFIG = ProviderConfig(MOCK, "", MOCK_MODEL_NAME, "")


def provider_chain(settings: GatewaySettings) -> list[ProviderConfig]:
    """The primary provider then the fallbacks; raises ConfigError naming the variable."""
    primary = _provider_name(settings.LLM_PROVIDER, "LLM_PROVIDER") or MOCK
    fallbacks = [
        _provider_name(item, "LLM_FALLBACKS") for item in settings.LLM_FALLBACKS.split(",")
    ]
    names = [primary, *(name for name in fallbacks if name)]
    _check_order(names)
    return [
        _config(settings, name, "LLM_PROVIDER" if i == 0 else "LLM_FALLBACKS")
        for i, name in enumerate(names)
    ]


def provider_config(settings: GatewaySettings) -> ProviderConfig | None:
    """The primary provider, None for mock."""
    primary = provider_chain(settings)[0]
    return None if primary.is_mock else primary


def configured_keys(settings: GatewaySettings, chain: list[ProviderConfig]) -> list[str]:
    """Every API key in the settings, used or not, and the chain's: redacted wherever text
    leaves the gateway."""
    keys = [getattr(settings, s.key_variable) for s in PROVIDERS.values() if s.key_variable]
    keys += [link.api_key for link in chain]
    return sorted({key.strip() for key in keys if key.strip()})


def _provider_name(raw: str, variable: str) -> str:
    name = raw.strip().lower()
    if name and name not in SUPPORTED_PROVIDERS and not PROVIDER_NAME.fullmatch(name):
        raise ConfigError(
            f"{variable}: {raw.strip()!r} is not a provider name (built-in: "
            f"{', '.join(SUPPORTED_PROVIDERS)}; another OpenAI-compatible one: up to 40 "
            "letters, digits, '_' or '-', starting with a letter)"
        )
    return name


def _check_order(names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"LLM_FALLBACKS: {', '.join(repeated)} named more than once")
    if MOCK in names[:-1]:
        raise ConfigError(
            "LLM_FALLBACKS: mock never fails, so it can only be the last resort "
            f"(chain: {', '.join(names)})"
        )


def _config(settings: GatewaySettings, name: str, variable: str) -> ProviderConfig:
    if name == MOCK:
        return MOCK_CONFIG
    if name not in PROVIDERS:
        return _custom_config(settings, name, variable)
    spec = PROVIDERS[name]
    base = _base_url(getattr(settings, spec.base_url_variable), spec)
    model = getattr(settings, spec.model_variable).strip()
    if not model:
        raise ConfigError(f"{spec.model_variable} must not be blank")
    key = ""
    if spec.key_variable:
        key = getattr(settings, spec.key_variable).strip()
        if not key:
            raise ConfigError(
                f"{spec.key_variable} is required when LLM_PROVIDER or LLM_FALLBACKS "
                f"names {name} (supported values of LLM_PROVIDER: "
                f"{', '.join(SUPPORTED_PROVIDERS)}; mock needs no key)"
            )
    return ProviderConfig(name, base, model, key)


def _custom_config(settings: GatewaySettings, name: str, variable: str) -> ProviderConfig:
    """An OpenAI-compatible provider known only by its <NAME>_* settings."""
    prefix = name.upper().replace("-", "_")
    spec = ProviderSpec(f"{prefix}_BASE_URL", f"{prefix}_MODEL_NAME", f"{prefix}_API_KEY")
    base, model = (
        settings.undeclared(spec.base_url_variable),
        settings.undeclared(spec.model_variable),
    )
    if not base or not model:
        raise ConfigError(
            f"{variable}: unknown provider {name!r}: the built-in ones are "
            f"{', '.join(SUPPORTED_PROVIDERS)}; for another OpenAI-compatible provider set "
            f"{spec.base_url_variable} and {spec.model_variable} (and {spec.key_variable} "
            "when it takes a key)"
        )
    key = settings.undeclared(f"{prefix}_API_KEY")
    return ProviderConfig(name, _base_url(base, spec), model, key)


def _base_url(value: str, spec: ProviderSpec) -> str:
    url = value.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{spec.base_url_variable}: expected an http:// or https:// URL (got {value!r})"
        )
    if spec.path_suffix and not url.endswith(spec.path_suffix):
        url += spec.path_suffix
    return url
