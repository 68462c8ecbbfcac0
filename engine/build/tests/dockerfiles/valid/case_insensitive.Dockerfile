from alpine as Base
run echo lower
CoPy a b
Env K=V
workdir /w
