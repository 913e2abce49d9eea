#!/usr/bin/python3
"""Loads `unic report` pages in headless Chromium and checks them against
the folders they were made from (tests/browser/run.sh runs it).

    check.py CHROMIUM SHOTS_DIR UNIC run|grid LABEL DIR [run|grid LABEL DIR]...

For every page: it loads with no console error, exception, error log entry
or failed load, asks for nothing but file: and data: URLs, every image
decodes; then per kind:
  run   the score table equals metrics.json (UNIC and the baseline), the
        matched ACC of the confusion matrix equals metrics.json's, one card
        per cluster and one mosaic per non-empty cluster (or item lists for
        runs without images), the heatmap has a row per true class and a
        column per cluster of the scored items, the curves are there, GCD
        pages mark old and new classes, neighbour figures when computed;
  grid  the ablation table's cells equal `unic table --format json`, every
        point links to its page (which is checked as a run page), curves
        with bands where a setting has several seeds.
Screenshots of each section go to SHOTS_DIR. Prints one line per check;
exit status 0 when all pass, 1 otherwise.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def read_predictions(run_dir):
    with open(os.path.join(run_dir, "predictions.csv")) as f:
        return list(csv.DictReader(f))


COMMON = r"""
(() => {
  const imgs = [...document.images];
  const refs = [...document.querySelectorAll('[src],[href]')]
      .map(e => e.getAttribute('src') || e.getAttribute('href'));
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    title: document.title,
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.className),
    external: refs.filter(r => /^[a-z][a-z0-9+.-]*:/i.test(r) && !/^(data|file):/i.test(r)),
    scripts: document.scripts.length,
    load_ms: nav ? nav.loadEventEnd - nav.startTime : -1,
    width: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
  };
})()
"""

RUN = r"""
(() => {
  const q = s => [...document.querySelectorAll(s)];
  const scores = {};
  q('#scores tr[data-method]').forEach(tr => {
    scores[tr.dataset.method] = {};
    tr.querySelectorAll('td[data-metric]').forEach(td => {
      scores[tr.dataset.method][td.dataset.metric] = [Number(td.dataset.value), td.textContent.trim()];
    });
  });
  const hm = document.querySelector('svg#heatmap');
  const top = s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().top + scrollY : -1; };
  return {
    scores,
    matched: document.querySelector('#matched-acc') ? Number(document.querySelector('#matched-acc').dataset.value) : null,
    clusters: q('.cluster').length,
    cluster_ids: q('.cluster').map(c => Number(c.dataset.cluster)),
    mosaics: q('img.mosaic[data-kind=confident]').length,
    mistake_mosaics: q('img.mosaic[data-kind=mistakes]').length,
    item_lists: q('.cluster > ol.items').length,
    heat_rows: hm ? Number(hm.dataset.rows) : -1,
    heat_cols: hm ? Number(hm.dataset.cols) : -1,
    heat_cells: q('svg#heatmap rect.cell').length,
    heat_png: q('svg#heatmap image.cells').length,
    heat_width: hm ? hm.getBoundingClientRect().width : 0,
    curves: q('#curves svg').length,
    curve_lines: q('#curves svg polyline').length,
    tags_old: q('.tag.old').length,
    tags_new: q('.tag.new').length,
    neighbor_figs: q('img.neighbors').length,
    histograms: q('svg.bars').length,
    missing: q('#missing li').map(li => li.textContent),
    sections: {summary: top('#summary'), curves: top('#curves'), confusion: top('#confusion'),
               clusters: top('#clusters'), neighbors: top('#neighbors'), config: top('#config')},
  };
})()
"""

GRID = r"""
(() => {
  const q = s => [...document.querySelectorAll(s)];
  const top = s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().top + scrollY : -1; };
  return {
    rows: q('#ablation tr').length - 1,
    cells: q('#ablation td.num').map(td => td.dataset.value === undefined ? null : Number(td.dataset.value)),
    links: q('a.point-report').map(a => a.getAttribute('href')),
    points: q('#point-list tr[data-point]').length,
    curves: q('#curves svg').length,
    bands: q('#curves svg polygon').length,
    md: (document.querySelector('#table-md') || {}).textContent || '',
    sections: {table: top('#table'), curves: top('#curves'), points: top('#points')},
  };
})()
"""


def common_checks(page, label, path):
    info = page.evaluate(COMMON)
    check(not page.problems, "%s: no console errors (%s)" % (label, "; ".join(page.problems[:5]) or "none"))
    ext = [u for u in page.requests if not u.startswith(("file:", "data:"))]
    check(not ext and not info["external"], "%s: fetches nothing (%s)" % (label, (ext + info["external"])[:3] or "file: and data: only"))
    check(info["scripts"] == 0, "%s: no scripts" % label)
    check(not info["broken"], "%s: all %d images decode (%s)" % (label, info["images"], info["broken"][:3] or "none broken"))
    check(info["width"] <= info["viewport"], "%s: no horizontal page scroll (%d <= %d px)" % (label, info["width"], info["viewport"]))
    size = os.path.getsize(path)
    print("     %s: %.1f KB, loaded in %.0f ms" % (label, size / 1024, info["load_ms"]))
    return info


def shoot(page, shots, label, sections):
    page.screenshot(os.path.join(shots, "%s-top.png" % label), top=0)
    for name, top in sections.items():
        if top >= 0:
            page.screenshot(os.path.join(shots, "%s-%s.png" % (label, name)), top=max(0, top - 40))


def check_run(b, shots, label, run_dir, page_path=None, screenshots=True):
    page_path = page_path or os.path.join(run_dir, "report.html")
    if not check(os.path.exists(page_path), "%s: %s exists" % (label, page_path)):
        return
    page = b.open("file://" + os.path.abspath(page_path))
    common_checks(page, label, page_path)
    r = page.evaluate(RUN)
    m = json.load(open(os.path.join(run_dir, "metrics.json")))
    gcd = m.get("task") == "gcd"
    names = ["all", "old", "new"] if gcd else ["acc", "nmi", "ari"]
    for method, key in (("unic", "unic"), ("ss-kmeans" if gcd else "kmeans", "baseline")):
        if key not in m:
            continue
        shown = r["scores"].get(method, {})
        ok = all(n in shown and abs(shown[n][0] - m[key][n]) < 1e-12 and shown[n][1] == "%.4f" % m[key][n] for n in names)
        check(ok, "%s: %s scores equal metrics.json %s (page %s)" % (label, method, {n: round(m[key][n], 4) for n in names}, {n: shown.get(n, [None, None])[1] for n in names}))
    check(r["matched"] is not None and abs(r["matched"] - m["unic"][names[0]]) < 1e-9,
          "%s: confusion matrix's matched %s %.6f equals metrics.json's %.6f" % (label, names[0], r["matched"] or -1, m["unic"][names[0]]))
    rows = read_predictions(run_dir)
    scored = [x for x in rows if not (gcd and x.get("labeled") == "1")]
    classes = {x["label"] for x in scored}
    clusters = {x["prediction"] for x in scored}
    check(r["clusters"] == m["clusters"] and sorted(r["cluster_ids"]) == list(range(m["clusters"])),
          "%s: one card per cluster (%d of %d)" % (label, r["clusters"], m["clusters"]))
    if r["item_lists"]:
        check(r["item_lists"] == len(clusters), "%s: one item list per non-empty cluster (%d of %d)" % (label, r["item_lists"], len(clusters)))
    else:
        check(r["mosaics"] == len(clusters), "%s: one mosaic per non-empty cluster (%d of %d)" % (label, r["mosaics"], len(clusters)))
        check(r["mistake_mosaics"] > 0, "%s: mistake mosaics (%d)" % (label, r["mistake_mosaics"]))
    check(r["heat_rows"] == len(classes) and r["heat_cols"] == len(clusters),
          "%s: heatmap %d x %d (true classes x clusters of the scored items: %d x %d)" % (label, r["heat_rows"], r["heat_cols"], len(classes), len(clusters)))
    if len(classes) * len(clusters) <= 3600:
        check(r["heat_cells"] == len(classes) * len(clusters), "%s: heatmap cells %d" % (label, r["heat_cells"]))
    else:
        check(r["heat_png"] == 1, "%s: large heatmap drawn as one image" % label)
    check(r["curves"] >= 3 and r["curve_lines"] >= 2, "%s: training curves (%d figures, %d lines)" % (label, r["curves"], r["curve_lines"]))
    if gcd:
        check(r["tags_old"] > 0 and r["tags_new"] > 0, "%s: old and new classes marked (%d old, %d new tags)" % (label, r["tags_old"], r["tags_new"]))
    nb = os.path.join(run_dir, "neighbors")
    if os.path.isdir(nb):
        svgs = [f for f in os.listdir(nb) if f.endswith(".svg")]
        check(r["neighbor_figs"] == len(svgs) and r["histograms"] >= 1,
              "%s: neighbour figures (%d of %d) and union-size histogram (%d)" % (label, r["neighbor_figs"], len(svgs), r["histograms"]))
    check(not r["missing"], "%s: nothing reported missing (%s)" % (label, r["missing"][:2] or "none"))
    if screenshots:
        shoot(page, shots, label, r["sections"])
    page.close()


def check_grid(b, shots, label, grid_dir, unic):
    path = os.path.join(grid_dir, "report.html")
    if not check(os.path.exists(path), "%s: %s exists" % (label, path)):
        return
    page = b.open("file://" + os.path.abspath(path))
    common_checks(page, label, path)
    g = page.evaluate(GRID)
    table = json.loads(subprocess.run([unic, "table", grid_dir, "--format", "json"], check=True,
                                      capture_output=True, text=True).stdout)
    want = [c["mean"] for row in table["rows"] for c in row["cells"]]
    check(g["rows"] == len(table["rows"]), "%s: ablation table has %d rows (unic table: %d)" % (label, g["rows"], len(table["rows"])))
    check(len(g["cells"]) == len(want) and all((a is None and b_ is None) or (a is not None and b_ is not None and abs(a - b_) < 1e-12) for a, b_ in zip(g["cells"], want)),
          "%s: table cells equal `unic table --format json` (%d cells)" % (label, len(want)))
    md = subprocess.run([unic, "table", grid_dir], check=True, capture_output=True, text=True).stdout
    check(g["md"].strip() == md.strip(), "%s: the table as `unic table` prints it" % label)
    manifest = json.load(open(os.path.join(grid_dir, "grid.json")))
    npoints = len(manifest["points"])
    check(g["points"] == npoints and len(g["links"]) == npoints, "%s: every point listed and linked (%d links, %d points)" % (label, len(g["links"]), npoints))
    check(g["curves"] >= 3 and g["bands"] >= 1, "%s: overlaid curves (%d) with min-max bands (%d)" % (label, g["curves"], g["bands"]))
    shoot(page, shots, label, g["sections"])
    page.close()
    for i, link in enumerate(g["links"]):
        target = os.path.join(grid_dir, link)
        check_run(b, shots, "%s-point%d" % (label, i), os.path.dirname(target), target, screenshots=(i == 0))


def main():
    if len(sys.argv) < 6 or (len(sys.argv) - 4) % 3:
        print(__doc__)
        return 2
    chromium, shots, unic = sys.argv[1], sys.argv[2], sys.argv[3]
    specs = [sys.argv[i:i + 3] for i in range(4, len(sys.argv), 3)]
    profile = tempfile.mkdtemp(prefix="unic-chromium-")
    t0 = time.monotonic()
    try:
        with Browser(chromium, profile) as b:
            for kind, label, d in specs:
                if kind == "run":
                    check_run(b, shots, label, d)
                else:
                    check_grid(b, shots, label, d, unic)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    print("%d checks failed (%.1f s in the browser)" % (len(failures), time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
