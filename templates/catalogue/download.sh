#!/bin/sh
# Dinamis: download the files of your basket ({{ links|length }} file(s)).
# The links are signed for you and expire {{ config["DINAMIS_SETTINGS"].download_link_ttl // 3600 }} hour(s) after they were made;
# make a new script from the basket when they have.
# Interrupted downloads resume where they stopped (curl --continue-at -),
# and each file is checked against its SHA-256 when the catalogue knows it.
set -eu
fetch() {
  mkdir -p "$(dirname "$2")"
  curl --fail --location --retry 3 --continue-at - --output "$2" "$1"
  if [ -n "$3" ]; then echo "$3  $2" | sha256sum -c -; fi
}
{% for url, target, digest in links %}fetch {{ url }} {{ target }} "{{ digest or '' }}"
{% endfor %}echo "Done: {{ links|length }} file(s)."
