"""The Docker builder, the lambci way, through the ``docker`` SDK.

A build image per runtime (SAM's ``public.ecr.aws/sam/build-pythonX.Y`` by
default) runs ``pip install ... -t python`` as the calling user, so the output
is theirs. The container sees only what the build needs, each at its own path:
the requirements file and the files and local projects it names, the sample
files of ``--prune`` (read-only), the build's own directory and pip's cache
(read-write); never the working directory, where a ``.netrc`` or
``.aws/credentials`` would be readable by whatever the build runs (an sdist's
``setup.py``). What corporate users need to reach their
index is forwarded: ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``, proxies, and a
CA bundle mounted read-only with ``PIP_CERT`` set; ``--host-network`` runs the
containers on the host's network.

Paths are mounted at the same absolute paths inside the container, so the
same scripts (``_compile.py``, ``_probe.py``) and arguments work on either side.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.errors import BuildError
from mlayer.layerbuild import pip as pip_builder
from mlayer.layerbuild.requirements import read_requirements
from mlayer.layerbuild.verify import PROBE, host_machine
from mlayer.targets import Target

FORWARDED_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", *pip_builder.PROXY_ENV)
CA_IN_CONTAINER = "/etc/mlayer/ca-bundle.crt"
# The first of these the image has is its Python.
_FIND_PYTHON = (
    'for p in python{v} python3 python; do if command -v "$p" >/dev/null 2>&1; then '
    'exec "$p" -I -c "import sys, platform; print(sys.executable, '
    "'%d.%d' % sys.version_info[:2], platform.machine(), *platform.libc_ver())\"; fi; done; "
    "echo 'no python in the image' >&2; exit 127"
)


def engine_answers() -> tuple[bool, str]:
    """(True, "") when a Docker engine answers; else (False, why not)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
        return True, ""
    except Exception as exc:  # DockerException, connection errors, a missing SDK
        return False, str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def pip_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlayer" / "pip-docker"


def default_ca_bundle() -> str | None:
    """The CA bundle the host's own pip uses, if one is set."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    return None


@dataclass(frozen=True)
class ImagePython:
    executable: str
    version: str
    machine: str
    glibc: tuple[int, int] | None


@dataclass
class DockerBuilder:
    """Runs build steps in containers of ``image``; ``client`` is a ``docker.DockerClient``."""

    target: Target
    image: str
    mounts: Sequence[Path]  # files or directories, read-only, at the same path
    writable: Sequence[Path]  # read-write, at the same path
    host_network: bool = False
    ca_bundle: str | None = None
    client: Any = None
    on_line: Callable[[str], None] = lambda _: None
    _python: ImagePython | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.client is None:
            import docker

            try:
                self.client = docker.from_env(timeout=600)
                self.client.ping()
            except Exception as exc:
                raise BuildError(
                    "--builder docker: no Docker engine answers "
                    f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}); "
                    "start Docker or use --builder pip"
                ) from None
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise BuildError(f"CA bundle {self.ca_bundle} does not exist: fix --ca-bundle")

    @property
    def description(self) -> str:
        return f"python{self.target.python_dotted} in {self.image}"

    # --- the image -------------------------------------------------------------------

    def ensure_image(self) -> None:
        """The image, pulled when it is not here; a missing one is a one-line error."""
        import docker.errors

        try:
            self.client.images.get(self.image)
            return
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise BuildError(f"Docker cannot read image {self.image}: {exc.explanation}") from None
        self.on_line(f"pulling {self.image}")
        repository, _, tag = (
            self.image.rpartition(":")
            if ":" in self.image.split("/")[-1]
            else (self.image, "", "latest")
        )
        try:
            for event in self.client.api.pull(repository, tag=tag, stream=True, decode=True):
                status = event.get("status", "")
                if status and "Downloading" not in status and "Extracting" not in status:
                    self.on_line(f"{event.get('id', '')} {status}".strip())
                if "error" in event:
                    raise BuildError(f"image {self.image} could not be pulled: {event['error']}")
        except docker.errors.APIError as exc:
            raise BuildError(
                f"image {self.image} is not here and could not be pulled "
                f"({exc.explanation}): pull or build it, or pass --image"
            ) from None

    def python(self) -> ImagePython:
        """The image's Python; refused unless it is the target's version."""
        if self._python is None:
            code, output = self._run(
                ["/bin/sh", "-c", _FIND_PYTHON.format(v=self.target.python_dotted)]
            )
            fields = output.strip().splitlines()[-1].split() if output.strip() else []
            if code != 0 or len(fields) < 3:
                raise BuildError(f"image {self.image} has no usable Python: {output.strip()[:160]}")
            glibc = None
            if len(fields) >= 5 and fields[3] == "glibc":
                major, minor = fields[4].split(".")[:2]
                glibc = (int(major), int(minor))
            self._python = ImagePython(fields[0], fields[1], fields[2], glibc)
        found = self._python
        if found.version != self.target.python_dotted:
            raise BuildError(
                f"image {self.image} has Python {found.version}, but {self.target.runtime} "
                f"needs {self.target.python_dotted}: pass --image with a python"
                f"{self.target.python_dotted} image"
            )
        return found

    def needs_target_flags(self) -> bool:
        """Whether pip must be pinned to the target's tags inside this image.

        The lambci way (pip choosing for the image's own platform, sdists built in
        it) is right only when the image is no newer than Lambda: a bookworm image
        (glibc 2.36) would otherwise pick wheels Lambda's glibc 2.26 cannot load.
        """
        found = self.python()
        return (
            found.glibc is None
            or found.glibc > self.target.glibc
            or found.machine.lower() not in (self.target.machine, self.target.arch)
        )

    # --- build steps -------------------------------------------------------------------

    def install(self, requirements: Path, dest: Path, *, no_deps: bool) -> bool:
        """``pip install -r requirements -t dest`` in the image; True if pinned to target tags."""
        found = self.python()
        pinned = self.needs_target_flags()
        # pip's debug log, beside dest in the build's own (mounted, writable) directory
        log = dest.resolve().parent / "pip.log"
        arguments = pip_builder.pip_arguments(
            requirements.resolve(),
            self.target,
            dest.resolve(),
            no_deps=no_deps,
            for_target=pinned,
            log=log,
        )
        code, output = self._run(
            [found.executable, "-m", "pip", *arguments],
            stream=True,
            working_dir=str(requirements.resolve().parent),
        )
        if code != 0:
            lines = [*output.splitlines(), *pip_builder.read_log(log)]
            # The index is probed from this machine: the container's network may be the cause.
            raise BuildError(
                pip_builder.explain_pip_failure(lines, self.target, in_container=self.image)
                + f" (in image {self.image})"
            )
        return pinned

    def run(self, arguments: Sequence[str], *, timeout: float) -> tuple[int, str]:
        """``python ARGUMENTS`` in the image (the ``verify.Python`` protocol)."""
        return self._run([self.python().executable, *arguments])

    def volumes(self) -> dict[str, dict[str, str]]:
        """Host path -> where and how the containers see it (besides the CA bundle)."""
        volumes = {str(p.resolve()): {"bind": str(p.absolute()), "mode": "ro"} for p in self.mounts}
        volumes[str(PROBE.parent)] = {"bind": str(PROBE.parent), "mode": "ro"}  # mlayer's scripts
        for path in self.writable:
            volumes[str(path.resolve())] = {"bind": str(path.resolve()), "mode": "rw"}
        # The host's download cache, so a rebuild in a fresh container downloads nothing.
        cache = pip_cache_dir()
        volumes[str(cache)] = {"bind": str(cache), "mode": "rw"}
        return volumes

    def _run(
        self, command: list[str], *, stream: bool = False, working_dir: str | None = None
    ) -> tuple[int, str]:
        import docker.errors

        volumes = self.volumes()
        environment = {
            "HOME": "/tmp",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
        }
        environment |= {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        cache = pip_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        environment["PIP_CACHE_DIR"] = str(cache)
        if self.ca_bundle:
            volumes[str(Path(self.ca_bundle).resolve())] = {"bind": CA_IN_CONTAINER, "mode": "ro"}
            environment |= {"PIP_CERT": CA_IN_CONTAINER, "SSL_CERT_FILE": CA_IN_CONTAINER}
        options: dict[str, Any] = {}
        if self.target.machine != host_machine():
            options["platform"] = self.target.docker_platform
        try:
            container = self.client.containers.run(
                self.image,
                command,
                detach=True,
                volumes=volumes,
                environment=environment,
                # The calling user, so the layer's files are theirs, not root's.
                user=f"{os.getuid()}:{os.getgid()}",
                working_dir=working_dir or "/tmp",
                network_mode="host" if self.host_network else None,
                **options,
            )
        except docker.errors.ImageNotFound:
            raise BuildError(
                f"image {self.image} not found: pull or build it, or pass --image"
            ) from None
        except docker.errors.APIError as exc:
            raise BuildError(f"Docker refused to run {self.image}: {exc.explanation}") from None
        lines: list[str] = []
        try:
            for chunk in container.logs(stream=True, follow=True):
                for line in chunk.decode(errors="replace").splitlines():
                    lines.append(line)
                    if stream:
                        self.on_line(line)
            status = container.wait()
        finally:
            container.remove(force=True)
        return int(status.get("StatusCode", 1)), "\n".join(lines)


def build_inputs(requirements: Path, samples: Iterable[Path] = ()) -> list[Path]:
    """What a build container may read from the host, each mounted on its own: the
    requirements file as pip opens it (resolved: ``install`` passes that path), the
    ``-r``/``-c`` files and local projects it names (at the paths pip joins from
    it), and the sample files of ``--prune``."""
    named = read_requirements(requirements.resolve())
    paths = [requirements.resolve(), *named.files, *named.local_paths, *samples]
    unique: list[Path] = []
    for path in paths:
        if path.absolute() not in unique:
            unique.append(path.absolute())
    return unique
