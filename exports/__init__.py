"""xlsx/csv exports for accountants, the school and the region (issue 7).

Fill a Struct from ``exports.model`` with figures from the projections, then call a writer::

    write_statement(data, out, lang="kk")           # акт, tenant statement
    write_meal_register(data, out)                  # табель, one sheet per class
    write_free_meals(data, out)                     # order 456 p.9
    write_attendance(data, out)                     # order 456 p.12
    write_regional_savings(data, out)               # жоспар / факт / үнем + chart
    write_report(data, out, fmt="csv", lang="ru")   # any of them, by type

``out`` is a path or a binary stream. The same data gives byte-identical files.
"""

from .attendance import write_attendance, write_attendance_csv
from .files import (CONTENT_TYPES, UnsupportedExport, content_disposition, filename,
                    report_kind, write_report)
from .free_meals import write_free_meals, write_free_meals_csv
from .model import ExportDataError
from .register import write_meal_register, write_meal_register_csv
from .savings import write_regional_savings, write_regional_savings_csv
from .statement import write_statement, write_statement_csv

__all__ = [
    "CONTENT_TYPES", "ExportDataError", "UnsupportedExport", "content_disposition", "filename",
    "report_kind", "write_attendance", "write_attendance_csv", "write_free_meals",
    "write_free_meals_csv", "write_meal_register", "write_meal_register_csv",
    "write_regional_savings", "write_regional_savings_csv", "write_report", "write_statement",
    "write_statement_csv",
]
