from rest_framework.pagination import PageNumberPagination as _Base


class PageNumberPagination(_Base):
    """``?page=`` and ``?page_size=`` (up to 1000), as API.md promises; the schema documents the cap."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = (
                    f"Results per page (default {self.page_size}); a larger value is capped at {self.max_page_size}."
                )
        return parameters
