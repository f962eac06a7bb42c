"""A load test in Python, run by loads-runner through loads_client.py.

    loads-runner --test-runner "python3 examples/external/test_site.py {test}" \
        test_site.TestSite.test_home -u 5 --hits 10 --server-url http://127.0.0.1:8080
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loads_client import TestCase, main  # noqa: E402


class TestSite(TestCase):
    def test_home(self):
        response = self.get(self.server_url + '/')
        self.assertEqual(response.status, 200)

    def test_counted(self):
        self.incr_counter('visits')
        response = self.get(self.server_url + '/')
        self.assertEqual(response.status, 200)


if __name__ == '__main__':
    main()
