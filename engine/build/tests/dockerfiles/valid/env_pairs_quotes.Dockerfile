FROM alpine
ENV A=1 B="two words" C='single $quoted' D=esc\ aped
ENV E="" F=${A}x
