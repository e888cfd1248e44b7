"""The HTML page of the capacity report (Jinja2). Self-contained: inline CSS, images as data URIs.

It lives in a Python module rather than a ``.html`` file so that every kind of install ships it.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
         max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.4; }
  h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
  border-bottom: 1px solid #ddd; padding-bottom: .2rem; } h3 { font-size: 1.05rem; }
  table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
  th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: right; }
  th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
  .PASS { background: #dff0d8; } .FAIL { background: #f2dede; }
  .INVALID { background: #fcf8e3; } .UNSTABLE { background: #f2dede; }
  .warnings li { margin: .2rem 0; } .answer { background: #f5f8ff; border-left: 4px solid #1f77b4;
  padding: .5rem 1rem; }
  img { max-width: 100%; height: auto; border: 1px solid #eee; margin: .5rem 0; }
  .muted { color: #666; font-size: .85rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="muted">Generated {{ generated }} from {{ runs | join(", ") }}.
Percentiles are exact (from every request's latency, successes only, steady window).</p>

<div class="answer">
<h2 id="answer">Answer</h2>
<p><strong>{{ headline }}</strong></p>
<table>
<thead><tr>{% for h in answer_table.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in answer_table.rows %}<tr>{% for cell in row %}<td{% if cell in ("PASS", "FAIL",
"INVALID", "UNSTABLE") %} class="{{ cell }}"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
<ul>{% for line in answer %}<li>{{ line }}</li>{% endfor %}</ul>
</div>

{% if warnings %}
<h2 id="warnings">Warnings</h2>
<ul class="warnings">{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul>
{% endif %}

{% for section in sections %}
<h2 id="{{ section.id }}">{{ section.title }}</h2>
{% for para in section.notes %}<p>{{ para }}</p>{% endfor %}
{% for table in section.tables %}
{% if table.caption %}<h3>{{ table.caption }}</h3>{% endif %}
<table>
<thead><tr>{% for h in table.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in table.rows %}<tr>{% for cell in row %}<td{% if cell in ("PASS", "FAIL", "INVALID",
"UNSTABLE") %} class="{{ cell }}"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
{% for image in section.images %}
<figure><img src="data:image/png;base64,{{ image.data }}" alt="{{ image.alt }}">
<figcaption class="muted">{{ image.alt }}</figcaption></figure>
{% endfor %}
{% endfor %}
</body>
</html>
"""
