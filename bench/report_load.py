#!/usr/bin/python3
"""How long a report page takes to open in headless Chromium (bench/report.sh).

    report_load.py CHROMIUM PAGE [REPEATS]

Each repeat opens the page in a fresh tab (file://, as a reader opens it
from disk) and reads the Navigation Timing of that load: DOMContentLoaded
and the load event (every inline image decoded and laid out), in ms from
the start of navigation. Prints one line per repeat and the median.
"""
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
from cdp import Browser  # noqa: E402

TIMING = """(() => { const n = performance.getEntriesByType('navigation')[0];
  return [n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime,
          document.images.length, document.querySelectorAll('svg').length]; })()"""


def main():
    chromium, page = sys.argv[1], os.path.abspath(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    profile = tempfile.mkdtemp(prefix="unic-report-load-")
    loads = []
    try:
        with Browser(chromium, profile, timeout=120) as b:
            for r in range(repeats):
                p = b.open("file://" + page)
                dcl, load, images, svgs = p.evaluate(TIMING)
                if p.problems:
                    print("console problems: %s" % p.problems[:3])
                print("load %d: DOMContentLoaded %.0f ms, load event %.0f ms (%d images, %d svg)"
                      % (r + 1, dcl, load, images, svgs))
                loads.append(load)
                p.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    print("median load event: %.0f ms" % statistics.median(loads))


if __name__ == "__main__":
    main()
