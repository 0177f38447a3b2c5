"""What this machine has: cores, memory, and the GPU backends this llama.cpp build can use. Used for
default load settings, memory checks and the GPU status the window shows."""

from __future__ import annotations

import ctypes
import functools
import glob
import logging
import os
import subprocess
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: ggml backend registries that are not a GPU: the CPU itself, BLAS on the CPU, and remote machines
_NOT_GPU = frozenset({"CPU", "BLAS", "RPC", "AMX"})
_NAME_MAX = 200  # characters kept of a name read from the library


def cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Threads for generation: the physical cores when the OS says how many (beyond them llama.cpp
    gets slower, not faster); otherwise half the logical CPUs on big machines."""
    physical = physical_cores()
    if physical is not None:
        return physical
    n = cpu_count()
    return n if n <= 4 else max(4, n // 2)


@functools.cache
def physical_cores() -> int | None:
    """Physical cores this process may run on; None where the OS does not tell us (Windows)."""
    platform: str = sys.platform  # a variable: mypy would judge the other platforms' branches dead
    try:
        if platform.startswith("linux"):
            return _linux_physical_cores()
        if platform == "darwin":
            out = subprocess.run(
                ["sysctl", "-n", "hw.physicalcpu"], capture_output=True, text=True, timeout=2, check=False
            ).stdout.strip()
            return int(out) if out.isdigit() and int(out) > 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return None


def allowed_cpus() -> frozenset[int] | None:
    """The CPUs this process may run on (its affinity mask); None where the OS does not say."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return frozenset(os.sched_getaffinity(0))
    except OSError:
        return None


def _linux_physical_cores() -> int | None:
    """Distinct (package, core) pairs among the CPUs in our affinity mask: sysfs, else /proc/cpuinfo."""
    allowed = allowed_cpus()
    cores: set[tuple[str, str]] = set()
    for topology in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology"):
        cpu = int(os.path.basename(os.path.dirname(topology))[3:])
        if allowed is not None and cpu not in allowed:
            continue
        try:
            with open(os.path.join(topology, "physical_package_id"), encoding="ascii") as fh:
                package = fh.read().strip()
            with open(os.path.join(topology, "core_id"), encoding="ascii") as fh:
                core = fh.read().strip()
        except OSError:
            continue
        cores.add((package, core))
    if cores:
        return len(cores)
    return _cpuinfo_physical_cores(allowed)


def _cpuinfo_physical_cores(allowed: frozenset[int] | None) -> int | None:
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            blocks = fh.read().split("\n\n")
    except OSError:
        return None
    for block in blocks:
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in block.splitlines())
        )
        if "core id" not in fields:
            continue
        processor = fields.get("processor", "")
        if allowed is not None and processor.isdigit() and int(processor) not in allowed:
            continue
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def total_memory_bytes() -> int | None:
    if sys.platform == "win32":
        return None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def available_memory_bytes() -> int | None:
    """Memory that can be used without swapping (Linux MemAvailable), else the total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return total_memory_bytes()


def resident_memory_bytes() -> int | None:
    """This process's resident set size (for the status bar and the fit-estimate check)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)
    except (ImportError, OSError):
        return None


@dataclass(frozen=True)
class GpuSupport:
    """Which GPU backends the llama.cpp build has (CUDA, Metal, Vulkan…), the devices they found,
    and whether llama.cpp will offload layers at all (`llama_supports_gpu_offload`)."""

    offload: bool
    backends: tuple[str, ...] = ()  # GPU backends compiled in (and loaded), e.g. ("CUDA",)
    devices: tuple[str, ...] = ()  # their devices' descriptions, e.g. ("NVIDIA H200",)

    @property
    def name(self) -> str:
        """ "CUDA", "Metal", "CUDA + Vulkan", or "CPU only"."""
        return (
            " + ".join(self.backends)
            if self.offload and self.backends
            else ("GPU" if self.offload else "CPU only")
        )

    def describe(self) -> str:
        """One sentence for a tooltip or a settings note."""
        if not self.offload:
            return (
                "This build of llama.cpp runs on the CPU only, so GPU layers are ignored. A CUDA, Metal "
                "or Vulkan build of llama-cpp-python runs layers on the graphics card."
            )
        devices = f" on {', '.join(self.devices)}" if self.devices else ""
        return f"This build of llama.cpp can run layers on the GPU with {self.name}{devices}."


def offloaded_layers(n_gpu_layers: int, block_count: int | None, offload: bool) -> tuple[int, int]:
    """(layers on the GPU, layers in all) as llama.cpp counts them: the model's blocks plus its output
    layer; -1 (or more than there are) means all of them, and a CPU-only build offloads none."""
    total = (block_count or 0) + 1
    if not offload or n_gpu_layers == 0 or block_count is None:
        return 0, total if block_count is not None else 0
    return (total if n_gpu_layers < 0 else min(n_gpu_layers, total)), total


@functools.cache
def gpu_support() -> GpuSupport:
    """What this llama.cpp build offers. Imports llama_cpp (a quarter of a second): call it once a
    model is loading or loaded, not at start-up."""
    try:
        import llama_cpp
    except (ImportError, OSError):
        return GpuSupport(offload=False)
    try:
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except (AttributeError, OSError):
        offload = False
    backends, devices = _ggml_gpu_devices()
    return GpuSupport(offload=offload, backends=backends, devices=devices)


def _ggml_gpu_devices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """GPU backend names and device descriptions from ggml's backend registry; () when the library
    does not export the registry (an older build): the offload flag alone then tells the story."""
    try:
        from llama_cpp._ggml import libggml

        lib = libggml
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_count.argtypes = []
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_dev_description.restype = ctypes.c_char_p
        lib.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
        lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_reg_name.restype = ctypes.c_char_p
        lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        backends: list[str] = []
        devices: list[str] = []
        for i in range(min(int(lib.ggml_backend_dev_count()), 64)):
            device = lib.ggml_backend_dev_get(i)
            if not device:
                continue
            registry = lib.ggml_backend_dev_backend_reg(device)
            backend = _text(lib.ggml_backend_reg_name(registry)) if registry else ""
            if not backend or backend.upper() in _NOT_GPU:
                continue
            if backend not in backends:
                backends.append(backend)
            description = _text(lib.ggml_backend_dev_description(device))
            if description:
                devices.append(description)
        return tuple(backends), tuple(devices)
    except (ImportError, OSError, AttributeError, ValueError):
        log.debug("ggml's backend registry is not available", exc_info=True)
        return (), ()


def _text(raw: object) -> str:
    """A name from the native library: decoded leniently, printable, bounded."""
    if not isinstance(raw, bytes):
        return ""
    text = raw.decode("utf-8", "replace")[:_NAME_MAX]
    return "".join(ch for ch in text if ch.isprintable()).strip()
