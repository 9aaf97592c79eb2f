"""English dates and times for people: "3 Dec 2026, 15:04 UTC". Every time names its zone,
because the portal's TIME_ZONE need not be the reader's."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i T"
TIME_FORMAT = "H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
