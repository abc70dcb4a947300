"""`minipod gc`: find and release what leaked."""

import click

from minipod.cli.base import cli, warn

@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what leaked, by kind, with the reason.")
@click.option("--force", is_flag=True,
              help="An attachment whose CNI DEL cannot run (plugin gone, failing, hanging) is released as far as "
                   "minipod can: its cache, host-local IPs and nat rules naming it; what is left is said.")
def gc(dry_run, force):
    """Find and release leaked state: CNI attachments, netns pins, processes, dirs.

    Each line says what happened: removed, failed (with the reason: the
    command then exits 1), forced (--force), or leaked (--dry-run: exits 1
    when anything is found)."""
    from minipod.ops import gc as gcmod
    found = gcmod.collect(dry_run=dry_run, force=force)
    for f in found:
        if f.outcome == "busy":  # a teardown under way: not a leftover
            warn(f"{f.kind} {f.item} is {f.reason}")
        else:
            click.echo(f.line())
    failed = [f for f in found if f.outcome == "failed"]
    for hint in gcmod.force_hint(failed):
        click.echo(hint, err=True)
    if dry_run:
        return 1 if any(f.outcome == "leaked" for f in found) else 0
    return 1 if failed else 0
