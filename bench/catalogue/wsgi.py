"""The Dinamis WSGI app for the benchmark's gunicorn: settings from DATABASE_URL and DINAMIS_*.

gunicorn --chdir bench/catalogue -k gthread -w 3 --threads 4 wsgi:app
"""

from dinamis import create_app

app = create_app()
