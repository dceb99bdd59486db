"""The smallest Django project that uses protus_django: no database tables, DRF with the PROTUS
authentication class. conftest.py points PROTUS_SIDECAR_URL and PROTUS_WEBHOOK_SECRET at the
processes it starts."""

SECRET_KEY = "protus-django-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "testproject.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["protus_django.ProtusAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
PROTUS_SIDECAR_URL = "http://127.0.0.1:7070"  # replaced by conftest.py
PROTUS_WEBHOOK_SECRET = None  # replaced by conftest.py
