"""The ``flask crm`` command group."""

from __future__ import annotations

import os
import time

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from crm.extensions import appbuilder, db

crm_cli = AppGroup("crm", help="Kartoteka administration.")


@crm_cli.command("init")
@click.option(
    "--admin-password-file",
    type=click.File("r", encoding="utf-8"),
    help="Read the first administrator's password from this file instead of generating one.",
)
def init_command(admin_password_file):
    """Apply migrations, converge built-in roles, create the first administrator.

    Safe to run again: it only adds what is missing and resets built-in roles to
    their declared permissions. The password comes from --admin-password-file,
    else CRM_ADMIN_PASSWORD, else it is generated and printed once.
    """
    from crm.security.service import (
        FIRST_ADMIN_USERNAME,
        converge_builtin_roles,
        create_first_admin,
        ensure_builtin_roles,
    )

    upgrade(directory=current_app.extensions["migrate"].directory)
    ensure_builtin_roles()
    appbuilder.add_permissions(update_perms=True)
    counts = converge_builtin_roles()
    click.echo("Roles: " + ", ".join(f"{name} ({count})" for name, count in counts.items()))

    password = None
    if admin_password_file is not None:
        password = admin_password_file.read().strip()
    elif os.environ.get("CRM_ADMIN_PASSWORD"):
        password = os.environ["CRM_ADMIN_PASSWORD"]
    if password is not None and len(password) < 12:
        raise click.ClickException("The administrator password must have at least 12 characters.")
    user, generated = create_first_admin(password)
    if generated:
        click.echo(f"Created administrator '{FIRST_ADMIN_USERNAME}' with password: {generated}")
        click.echo("This password is shown once; store it now.")
    elif password is not None and user.username == FIRST_ADMIN_USERNAME:
        click.echo(f"Administrator '{user.username}' already exists; its password was not changed.")
    else:
        click.echo(f"Administrator '{user.username}' is ready.")


@crm_cli.command("demo")
@click.option("--clients", "count", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@click.option("--seed", type=int, default=2018, show_default=True, help="Same seed, same data.")
def demo_command(count, seed):
    """Load realistic Polish demo clients, versioned like any other write."""
    from crm.demo import load_demo

    owners = list(db.session.scalars(db.select(appbuilder.sm.user_model)))
    started = time.perf_counter()
    with click.progressbar(length=count, label="Demo clients") as bar:
        written = load_demo(
            count,
            seed=seed,
            batch_size=current_app.config["CRM_DEMO_BATCH_SIZE"],
            owners=owners,
            progress=bar.update,
        )
    click.echo(f"Wrote {written} demo clients in {time.perf_counter() - started:.1f} s.")


@crm_cli.command("has-clients", hidden=True)
def has_clients_command():
    """Exit 0 when the database holds at least one client (used by ``make run``)."""
    from crm.clients.models import Client

    raise SystemExit(0 if db.session.scalar(db.select(Client.id).limit(1)) else 1)
