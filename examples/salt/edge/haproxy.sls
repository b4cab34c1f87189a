{#- HAProxy for the Spectrum apps. Apply it with: salt-call state.apply edge.haproxy
    1. the guard renders the config only when every origin of every app passes (a staging file),
    2. HAProxy's own check (`haproxy -c`) must accept it before it replaces the file in service,
    3. HAProxy reloads only when the file in service changed.
    Where the file goes, how HAProxy is reloaded and the template's context are the minion's own
    settings (spectrum_edge:haproxy in the minion config): pillar must not redirect the write or
    the reload. #}
{%- set haproxy = salt['config.get']('spectrum_edge:haproxy', {}, omit_pillar=True, omit_grains=True, omit_master=True) %}
{%- set config = haproxy.get('config', '/etc/haproxy/haproxy.cfg') %}

spectrum-haproxy-config:
  spectrum_acl.app_config:
    - name: {{ config }}.guarded
    - source: salt://edge/haproxy.cfg.jinja
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context: {{ haproxy.get('context', {}) | json }}

spectrum-haproxy-in-service:
  file.managed:
    - name: {{ config }}
    - source: {{ config }}.guarded
    - mode: '0644'
    - check_cmd: {{ haproxy.get('check_cmd', 'haproxy -q -c -f') }}
    - require:
      - spectrum_acl: spectrum-haproxy-config

spectrum-haproxy-reload:
  cmd.run:
    - name: {{ haproxy.get('reload', 'systemctl reload haproxy') | json }}
    - onchanges:
      - file: spectrum-haproxy-in-service
