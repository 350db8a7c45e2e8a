"""Headless Chromium for the tests that look at pages as a reader does: the docs site and the tree explorer.

Debian's `chromium` and `chromium-driver` (which .ci/run installs); the browser's console is kept, so tests can check it.
"""
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason='headless Chromium is not installed here: `apt-get install chromium chromium-driver` (as .ci/run does)')


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 1000):
    "A headless Chromium driven by Selenium, with its own profile folder and its console log kept."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
                 '--disable-component-update', '--disable-sync', '--disable-quic', '--hide-scrollbars',
                 f'--user-data-dir={profile}', f'--window-size={width},{height}']:
        opts.add_argument(flag)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try: yield driver
    finally: driver.quit()
