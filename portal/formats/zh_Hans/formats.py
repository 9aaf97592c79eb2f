"""Simplified Chinese dates and times, as Baidu AI Cloud's console writes them: "2026年12月3日 15:04 UTC".
Every time names its zone, because the portal's TIME_ZONE need not be the reader's."""

DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 H:i T"
TIME_FORMAT = "H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
