"""Parse deploy-time settings from the environment, once, with clear errors.

Every knob is an environment variable with a safe default. A bad value raises
``ImproperlyConfigured`` naming the variable, so a misconfigured deploy fails
at start-up instead of misbehaving later (healthchecks' ``envbool``/``envint``).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "") -> str:
    """An http(s) base URL without a trailing slash; empty when unset."""
    raw = os.environ.get(name, default).strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL; got {raw!r}")
    return raw.rstrip("/")


def require_together(what: str, credentials: dict[str, str], needs: dict[str, object]) -> None:
    """A client is configured by all of its credentials or none; with them, ``needs`` must be set too."""
    given = [name for name, value in credentials.items() if value]
    if not given:
        return
    missing = [name for name, value in credentials.items() if not value]
    missing += [name for name, value in needs.items() if not value]
    if missing:
        raise ImproperlyConfigured(f"{what}: {', '.join(given)} is set but {', '.join(missing)} is not")


def parse_database_url(url: str, *, name: str = "DATABASE_URL", base_dir: Path) -> dict:
    """Turn ``postgres://user:pass@host:port/db`` or ``sqlite:///path`` into DATABASES['default'].

    SQLite runs in WAL mode with IMMEDIATE transactions so that concurrent
    writers queue on the lock instead of failing with "database is locked".
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ImproperlyConfigured(f"{name} must name a database, e.g. postgres://user@host:5432/console")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite://:memory:
        path = unquote(parts.path) if parts.path else ""
        if parts.netloc == ":memory:" or path in {"/:memory:", ":memory:"}:
            db_path = ":memory:"
        else:
            # One slash after the authority is the separator: sqlite:///var/x is
            # relative to the project, sqlite:////var/x is absolute.
            path = path[1:] if path.startswith("/") else path
            if not path:
                raise ImproperlyConfigured(f"{name} must name a file, e.g. sqlite:///var/console.sqlite3")
            candidate = Path(path)
            db_path = str(candidate if candidate.is_absolute() else base_dir / candidate)
        return sqlite_database(db_path)
    raise ImproperlyConfigured(f"{name} must start with postgres:// or sqlite://; got scheme {scheme or '(none)'!r}")


def sqlite_database(path: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        },
    }


def parse_redis_url(url: str, *, name: str = "REDIS_URL") -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must start with redis://, rediss:// or unix://; got {url!r}")
    return url


def load_env_file(path: Path) -> None:
    """Read KEY=VALUE lines into the environment without overriding what is already set.

    ``make demo`` writes var/console.env (generated SECRET_KEY and webhook secrets) so that
    every ``manage.py`` command in the checkout sees the same configuration as the server.
    """
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE")
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))
