from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=``; 50 items by default, at most 200."""

    default_limit = 50
    max_limit = 200
