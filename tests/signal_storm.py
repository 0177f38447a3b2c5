"""A stream of cross-thread signals like token streaming produces; run as a subprocess by the test.

PySide6 6.12.0 on CPython 3.11 decrements the refcount of True/False/None per emit and aborts the
interpreter ("Fatal Python error: bool_dealloc") after a few thousand. If this script exits 0, the pinned
PySide6 survives what inference streaming does to it.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

EMITS = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000


class Producer(QObject):
    token = Signal(str, bool, object)
    done = Signal()

    @Slot()
    def run(self) -> None:
        for i in range(EMITS):
            self.token.emit("x", i % 2 == 0, None)
        self.done.emit()


class Consumer(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.ticks = 0

    @Slot(str, bool, object)
    def on_token(self, _text: str, _flag: bool, _none: object) -> None:
        self.count += 1

    @Slot()
    def on_tick(self) -> None:
        self.ticks += 1

    @Slot()
    def on_done(self) -> None:
        QTimer.singleShot(200, QCoreApplication.instance().quit)  # type: ignore[union-attr]


def main() -> int:
    app = QCoreApplication(sys.argv)
    thread = QThread()
    producer = Producer()
    producer.moveToThread(thread)
    consumer = Consumer()
    producer.token.connect(consumer.on_token)
    thread.started.connect(producer.run)
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(consumer.on_tick)
    timer.start()

    producer.done.connect(consumer.on_done)
    thread.start()
    app.exec()
    timer.stop()
    thread.quit()
    thread.wait()
    print(f"received {consumer.count} of {EMITS}, {consumer.ticks} timer ticks")
    return 0 if consumer.count == EMITS else 1


if __name__ == "__main__":
    sys.exit(main())
