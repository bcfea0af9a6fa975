"""Partner portal, partner API and statements (issue: reporting). Not yet installed as an app."""
