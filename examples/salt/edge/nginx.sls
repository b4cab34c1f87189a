{#- nginx (stream {}) for the Spectrum apps. Apply it with: salt-call state.apply edge.nginx
    1. the guard renders the config only when every origin of every app passes (a staging file),
    2. nginx's own check (`nginx -t`) must accept it before it replaces the file in service,
    3. nginx reloads only when the file in service changed.
    Where the file goes, how nginx is reloaded and the template's context are the minion's own
    settings (spectrum_edge:nginx in the minion config): pillar must not redirect the write or
    the reload. #}
{%- set nginx = salt['config.get']('spectrum_edge:nginx', {}, omit_pillar=True, omit_grains=True, omit_master=True) %}
{%- set config = nginx.get('config', '/etc/nginx/spectrum-stream.conf') %}

spectrum-nginx-config:
  spectrum_acl.app_config:
    - name: {{ config }}.guarded
    - source: salt://edge/nginx-stream.conf.jinja
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context: {{ nginx.get('context', {}) | json }}

spectrum-nginx-in-service:
  file.managed:
    - name: {{ config }}
    - source: {{ config }}.guarded
    - mode: '0644'
    - check_cmd: {{ nginx.get('check_cmd', 'nginx -q -t -c') }}
    - require:
      - spectrum_acl: spectrum-nginx-config

spectrum-nginx-reload:
  cmd.run:
    - name: {{ nginx.get('reload', 'nginx -s reload -c ' ~ config) | json }}
    - onchanges:
      - file: spectrum-nginx-in-service
