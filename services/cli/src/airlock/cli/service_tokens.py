"""How a long-lived service of the execution or processing zone gets its token: from its section's
``token_file`` (what ``run-all`` and deployments use) or, failing that, its ``token`` setting; the
environment variable that may have carried it is then wiped, so the token lives only in memory
(ADR 0017). One rule for the worker, the DAG processor, the triggerer and the callback processor.
"""

from __future__ import annotations

from pathlib import Path

from airlock.cli.errors import CliError


def read_token(
    section: str, service: str, inline: str | None, file: str | None, *, issue: str
) -> str:
    """The token of the ``[section]`` settings (``service`` names it in errors; ``issue`` is the
    ``airlock tokens issue …`` arguments that make one)."""
    from airlock.sdk.execution_time.supervised import forget_environment_variable

    token = _read(section, service, inline, file, issue)
    forget_environment_variable(f"AIRLOCK_{section.upper()}__TOKEN")
    return token


def _read(section: str, service: str, inline: str | None, file: str | None, issue: str) -> str:
    if file:
        try:
            return Path(file).expanduser().read_text().strip()
        except OSError as exc:
            raise CliError(f"cannot read [{section}] token_file {file}: {exc}") from None
    if inline:
        return inline
    kind = "a worker token" if section == "worker" else "a service token"
    raise CliError(
        f"the {service} needs {kind}: set [{section}] token_file or "
        f"AIRLOCK_{section.upper()}__TOKEN (issue one with `airlock tokens issue {issue}`)"
    )
