from rest_framework.pagination import PageNumberPagination as _Base


class PageNumberPagination(_Base):
    """``?page=`` and ``?page_size=`` (up to 1000), as API.md promises."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
