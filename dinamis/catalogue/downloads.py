"""Former home of the download rules, kept importable while other branches move their
callers: the rules are in catalogue/permissions.py, files and the basket in
catalogue/service.py. Remove once nothing imports it."""

from dinamis.catalogue.permissions import may_download, refusal
from dinamis.catalogue.service import File, files_of

__all__ = ["File", "files_of", "may_download", "refusal"]
