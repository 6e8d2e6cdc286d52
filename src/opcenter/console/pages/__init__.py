"""The page's handlers, one module per part of the page; each registers its routes with
`console.web.page_route` when imported (console/app.py imports them all)."""
