"""MAM groups, allocation and fees (issue: MAM). Not yet installed as an app."""
