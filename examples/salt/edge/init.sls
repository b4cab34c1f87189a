{#- Render the Spectrum edge config, then reload the edge daemon only when it changed. #}
{#- Where the file goes is the minion's own setting: pillar must not redirect the write. #}
{%- set config_dir = salt['config.get']('spectrum_edge:config_dir', '/etc/spectrum',
                                        omit_pillar=True, omit_grains=True, omit_master=True) %}

spectrum-edge-config:
  spectrum_acl.app_config:
    - name: {{ config_dir }}/apps.json
    - makedirs: True
    - mode: '0644'

# Stand-in for the edge daemon's reload: it appends a line to reload.log.
spectrum-edge-reload:
  cmd.run:
    - name: echo "$(date -u +%FT%TZ) reload spectrum edge" >> {{ config_dir }}/reload.log
    - onchanges:
      - spectrum_acl: spectrum-edge-config
