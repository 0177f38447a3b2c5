"""Render resources/icons/hearth.svg into the PNG, ICO and ICNS files the installers need.

    python packaging/render_icons.py            # writes resources/icons/hearth-{16..512}.png, .ico, .icns

The outputs are committed, so building an installer never needs this script (nor Pillow): run it again
only after changing the SVG. Qt's own SVG renderer draws every size from the vector source, so small
sizes are rendered, not downscaled from 512 px.
"""

# ruff: noqa: TID251 - a build tool that renders with Qt; the core's Qt ban does not apply here

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest size an ICO directory entry can hold
# ICNS element types holding PNG data, by pixel size (Apple's "iconutil" names in the comments).
ICNS_TYPES = (
    (b"icp4", 16),  # icon_16x16
    (b"ic11", 32),  # icon_16x16@2x
    (b"icp5", 32),  # icon_32x32
    (b"ic12", 64),  # icon_32x32@2x
    (b"ic07", 128),  # icon_128x128
    (b"ic13", 256),  # icon_128x128@2x
    (b"ic08", 256),  # icon_256x256
    (b"ic14", 512),  # icon_256x256@2x
    (b"ic09", 512),  # icon_512x512
)


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]  # the stubs say bytes; Qt wants str
        raise SystemExit(f"cannot encode a {size}px PNG")
    buffer.close()
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """A multi-size ICO whose entries are PNG streams (supported since Windows Vista)."""
    sizes = [s for s in ICO_SIZES if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
        blobs += blob
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    folder = Path(argv[1]) if len(argv) > 1 else root / "resources" / "icons"
    svg = root / "resources" / "icons" / "hearth.svg"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication([])
    pngs = {size: render_png(svg, size) for size in sorted({*PNG_SIZES, *ICO_SIZES})}
    folder.mkdir(parents=True, exist_ok=True)
    for size in PNG_SIZES:
        (folder / f"hearth-{size}.png").write_bytes(pngs[size])
    (folder / "hearth.ico").write_bytes(ico(pngs))
    (folder / "hearth.icns").write_bytes(icns(pngs))
    print(f"wrote {len(PNG_SIZES)} PNGs, hearth.ico and hearth.icns to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
