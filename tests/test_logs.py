"""Secrets never reach the log file: known values and secret-looking words are masked."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner

from emerald_cli.cli import app
from emerald_cli.logs import REDACTOR, setup_logging


def test_file_log_masks_router_password_and_login_words(tmp_path: Path):
    log_file = tmp_path / "emerald.log"
    setup_logging(log_file, verbose=True)
    REDACTOR.add("pä$$wörd-42")

    logger = logging.getLogger("emerald_cli.test")
    logger.info("router=core-1 login with pä$$wörd-42 failed")
    logging.getLogger("librouteros").warning("<--- '=password=hunter2'")
    logger.info("url postgresql://emerald:dbsecret@db/emerald token=abc123 ok")
    try:
        raise ValueError("boom pä$$wörd-42")
    except ValueError:
        logger.exception("router=core-1 crashed")
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = log_file.read_text(encoding="utf-8")
    for secret in ("pä$$wörd-42", "hunter2", "dbsecret", "abc123"):
        assert secret not in text
    assert "router=core-1 login with ******** failed" in text
    assert "'=password=********'" in text
    assert "postgresql://emerald:********@db/emerald" in text
    assert "ValueError: boom ********" in text


def test_a_log_file_that_cannot_be_written_is_one_line_and_exit_two(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    (home / ".__emerald.lock").mkdir(parents=True)  # where the log's lock file must go
    monkeypatch.setenv("EMERALD_HOME", str(home))
    monkeypatch.delenv("EMERALD_LOG_FILE", raising=False)

    result = CliRunner().invoke(app, ["runs"])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: cannot write the log file {home / 'emerald.log'} "
        f"({home / '.__emerald.lock'}: Is a directory): "
        "set EMERALD_LOG_FILE or EMERALD_HOME to a writable place"
    ]


def test_a_bad_setting_is_said_once(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EMERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMERALD_WORKERS", "abc")
    logging.getLogger().handlers.clear()  # as in a fresh process: logging not set up yet

    result = CliRunner().invoke(app, ["runs"])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: EMERALD_WORKERS='abc' is not a whole number: fix or unset it"
    ]


def test_warnings_on_stderr_read_like_errors(tmp_path: Path, capsys):
    setup_logging(tmp_path / "emerald.log")
    logging.getLogger("emerald_cli.store.lock").warning("took over the lock of run %d", 3)
    setup_logging(tmp_path / "emerald.log", verbose=True)
    logging.getLogger("emerald_cli.store.lock").warning("took over the lock of run %d", 4)

    assert capsys.readouterr().err.splitlines() == [
        "warning: took over the lock of run 3",
        "warning emerald_cli.store.lock: took over the lock of run 4",
    ]
