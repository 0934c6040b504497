-- One database per member agency's node (the demo federation in docker-compose.yml).
-- Run once by the postgres image when its data volume is first created.
CREATE DATABASE pel_th_sso OWNER pel;
CREATE DATABASE pel_mm_ssb OWNER pel;
CREATE DATABASE pel_my_perkeso OWNER pel;
CREATE DATABASE pel_id_bpjstk OWNER pel;
CREATE DATABASE pel_sg_cpf OWNER pel;
CREATE DATABASE pel_ph_sss OWNER pel;
CREATE DATABASE pel_kh_nssf OWNER pel;
CREATE DATABASE pel_la_lsso OWNER pel;
CREATE DATABASE pel_vn_vss OWNER pel;
CREATE DATABASE pel_bn_tap OWNER pel;
