"""The Dinamis WSGI app for the benchmark's gunicorn: settings from DATABASE_URL and DINAMIS_*.

gunicorn --chdir bench/catalogue -k gthread -w 3 --threads 4 wsgi:app

Built as production serves it (`dinamis.wsgi.make_app`: create_app, then gc.freeze()).
"""

from dinamis.wsgi import make_app

app = make_app()
