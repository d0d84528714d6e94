"""CSVLogger: one CSV row per epoch, the file rewritten atomically each time."""
import csv
import io
import os

from .._validate import describe, path_text
from ..errors import RnnkitValueError
from ..io.files import atomic_write_text
from . import _checks
from .base import Callback


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file.

    Columns: ``epoch`` (0-based, as Keras) then the log keys of the first epoch
    in sorted order (plus the model's expected ``val_*`` metric names when it
    reports ``metrics_names``); a key missing in a later epoch is written "NA".
    Floats are written in full precision (``repr``), lines end with "\\n".

    Every write rewrites the whole file through a temporary file and a rename,
    so a crash leaves the file as it was after the previous epoch.

    Args:
        filename: path of the CSV file; missing folders are created.
        separator: one character between fields (default ",").
        append: keep an existing file and add rows (the header only if the file
            is empty); otherwise the file is emptied when training begins.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = path_text("filename", filename)
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise RnnkitValueError(f"separator must be one character other than a quote or newline, "
                                   f"got {describe(separator)}")
        self.sep = separator
        self.append = _checks.flag("append", append)
        self.keys = None
        self._text = ""

    def on_train_begin(self, logs=None):
        self.keys = None
        self._text = ""
        if self.append and os.path.exists(self.filename):
            self._text = self._existing_text()
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"
        else:
            atomic_write_text(self.filename, "")

    def _existing_text(self):
        """The file appended to, as text; a folder, a device or a file that is not UTF-8 is a named error."""
        if not os.path.isfile(self.filename):
            raise RnnkitValueError(f"CSVLogger cannot append to {self.filename!r}: it is not a regular file")
        with open(self.filename, "rb") as handle:
            raw = handle.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RnnkitValueError(f"CSVLogger cannot append to {self.filename!r}: it is not UTF-8 text "
                                   f"(byte {err.start}: {err.reason}); move it away or start without append") from None

    def _row(self, values):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.sep, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if hasattr(value, "tolist") and not _checks.is_real(value):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(map(str, value)) + "]"
        return repr(float(value)) if _checks.is_real(value) else str(value)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            for name in getattr(self.model, "metrics_names", None) or []:
                expected = name if name.startswith("val_") else None
                if expected and expected not in self.keys:
                    self.keys.append(expected)
            if not self._text:
                self._text = self._row(["epoch", *self.keys])
        row = [epoch] + [self._cell(logs[key]) if key in logs else "NA" for key in self.keys]
        self._text += self._row(row)
        atomic_write_text(self.filename, self._text)
