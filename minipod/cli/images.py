"""The image verbs: image import, ls, inspect, rm, and pull."""

import sys

import click

from minipod import image
from minipod.core import container, images
from minipod.printers import docker
from minipod.cli.base import CONTEXT, cli, echo_json, warn

@cli.group("image", context_settings=CONTEXT)
def image_group():
    """Manage images (named by references, as docker's)."""


@image_group.command("import")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.argument("name", required=False)
def image_import(archive, name):
    """Import a docker or OCI archive, or a rootfs tarball, as NAME (a
    reference: [registry/]repository[:tag]; default: the archive's own)."""
    progress = _layer_progress()
    rec = image.import_archive(archive, name, warn=warn, progress=progress)
    if progress:
        click.echo("", err=True)
    _echo_references(rec, [name] if name else None)


def _echo_references(rec, given=None):
    """The references the image got, short as docker prints them."""
    from minipod.image import reference
    for ref in (given or image.references(rec)):
        click.echo(reference.familiar(ref))


def _layer_progress():
    """A per-layer progress line on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    state = {"label": None}

    def show(label, done, total):
        if state["label"] not in (None, label):
            click.echo("", err=True)  # the previous layer is done: keep its line
        state["label"] = label
        size = docker.human_size(done) + (f" / {docker.human_size(total)}" if total else "")
        click.echo(f"\r{label}: {size}   ", nl=False, err=True)
    return show


@image_group.command("ls")
def image_ls():
    """List images, their size and the layers they share."""
    images = [(r, image.references(r), image.display_name(r)) for r in image.list_images()]
    click.echo(docker.table(docker.IMAGE_HEADERS, docker.image_rows(images, image.layer_usage())))


@image_group.command("inspect")
@click.argument("refs", nargs=-1, required=True)
def image_inspect(refs):
    """Show images' config and layers as JSON (docker's shape)."""
    echo_json([image.inspect(r) for r in refs])


@image_group.command("rm")
@click.option("-f", "--force", is_flag=True)
@click.argument("names", nargs=-1, required=True)
def image_rm(force, names):
    """Remove images (refused while containers use them, unless -f); layers
    no other image uses are freed. A reference of an image that others also
    name it by is only untagged, as docker does."""
    from minipod.image import reference
    for n in names:
        untagged, deleted, _freed = images.remove_image(n, force, container.list_containers())
        for ref in untagged:
            click.echo(f"Untagged: {reference.familiar(ref)}")
        if deleted:
            click.echo(f"Deleted: {deleted}")


@image_group.command("tag")
@click.argument("source")
@click.argument("target")
def image_tag(source, target):
    """Name the image SOURCE also TARGET (moved from another image that had it)."""
    image.tag(source, target)


@cli.command()
@click.option("--tls-verify/--no-tls-verify", default=True, show_default=True,
              help="Verify the registry's certificate (off for a local registry).")
@click.option("--authfile", type=click.Path(dir_okay=False), help="Registry credentials (skopeo's format).")
@click.option("--name", help="Store as NAME, a reference (default: REF itself).")
@click.argument("ref")
def pull(tls_verify, authfile, name, ref):
    """Fetch an image from a registry (through skopeo) and import it."""
    from minipod.image import pull as pullmod
    progress = _layer_progress()
    rec = pullmod.pull(ref, name=name, tls_verify=tls_verify, authfile=authfile, warn=warn,
                       progress=progress)
    if progress:
        click.echo("", err=True)
    _echo_references(rec, [name or ref.removeprefix("docker://")])
