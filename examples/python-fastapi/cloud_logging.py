"""One JSON object per log line with `severity` and `message`, the format Cloud Logging parses as a
structured log. uvicorn uses it through log-config.json (`--log-config log-config.json`)."""
import datetime
import json
import logging


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "severity": "WARNING" if record.levelname == "WARN" else record.levelname,
            "message": record.getMessage(),
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["stack"] = self.formatException(record.exc_info)
        return json.dumps(entry)
