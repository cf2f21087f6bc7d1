"""The console's pages, one router per area of work; services/console/app.py assembles them."""
