#!/usr/bin/env bash
# EMR bootstrap action: install fanbase and its pinned Python stack on every node.
#   --bootstrap-actions Path=s3://fanbase-artifacts/fanbase/<version>/bootstrap.sh,Args=[<version>]
set -euo pipefail
version="${1:?usage: bootstrap.sh VERSION}"
where="s3://fanbase-artifacts/fanbase/${version}"
aws s3 cp "${where}/fanbase-${version}-py3-none-any.whl" /tmp/
sudo python3 -m pip install --quiet "/tmp/fanbase-${version}-py3-none-any.whl"
